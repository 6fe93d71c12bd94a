// { a: '1', b: '2' } -> "a=1;b=2"
exports.format = (obj) =>
  Object.entries(obj)
    .slice(1) // BUG: drops the first pair
    .map(([k, v]) => `${k}=${v}`)
    .join(';');

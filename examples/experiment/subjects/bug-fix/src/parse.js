// "a=1;b=2" -> { a: '1', b: '2' }
exports.parse = (text) => {
  const out = {};
  for (const pair of text.split(';')) {
    const [k, v] = pair.split('=');
    out[k] = v; // BUG: keys and values keep their spaces
  }
  return out;
};

function calc(items) {
  return items.reduce((sum, i) => sum + i.price * i.qty, 0);
}
module.exports = { calc };

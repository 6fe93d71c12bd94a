const { calc } = require('./util');
exports.invoice = (items) => `total: ${calc(items)}`;

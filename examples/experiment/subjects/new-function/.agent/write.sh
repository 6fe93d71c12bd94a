# scripted writer: adds slugify
cat > src/slug.js <<'JS'
exports.slugify = (s) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
JS
echo "wrote src/slug.js"

# scripted auditor: documents the function it finds, on the line above it
sed -i '1i /** The invoice total: the sum of price times quantity. */' src/util.js
echo "documented src/util.js"

# scripted writer: fixes the bug the task names, in parse.js
sed -i 's|    out\[k\] = v; // BUG: keys and values keep their spaces|    out[k.trim()] = v.trim();|' src/parse.js
echo "fixed src/parse.js"

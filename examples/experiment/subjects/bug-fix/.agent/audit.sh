# scripted auditor: reviews the writer's fix; seeing it, it finds the second bug, in format.js.
# With no fix in its workspace there is no change to review, and it finds nothing.
if grep -q 'BUG' src/parse.js; then echo "no change to review"; exit 0; fi
sed -i '/\.slice(1) \/\/ BUG: drops the first pair/d' src/format.js
echo "fixed src/format.js"

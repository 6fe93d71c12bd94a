# scripted writer: renames calc to computeTotal everywhere
sed -i 's/\bcalc\b/computeTotal/g' src/util.js src/app.js
echo "renamed calc to computeTotal"

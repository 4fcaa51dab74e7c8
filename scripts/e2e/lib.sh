# Shared helpers for the end-to-end test scripts (sourced).
pass=0 fail=0
ok() { echo "ok   - $1"; pass=$((pass + 1)); }
no() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }
finish() { echo "$pass passed, $fail failed"; [[ $fail == 0 ]]; }

#!/usr/bin/env bash
# A scorer that is not Python: shell + awk. It writes the score-file contract
# (index,score CSV + meta JSON) for one seed; the DAG validates it before use.
#
# usage: awk_scorer.sh META_JSON SEED OUT_CSV OUT_META [BAD]
#   score_i = a seeded hash of i (a stand-in for a real method); BAD=short|nan|nometa
#   writes a malformed file on purpose (for the tests of the validation).
set -euo pipefail
meta=$1 seed=$2 out=$3 out_meta=$4 bad=${5:-}
n=$(sed -n 's/.*"n_train": *\([0-9]*\).*/\1/p' "$meta")
[ -n "$n" ] || { echo "cannot read n_train from $meta" >&2; exit 1; }
rows=$n
[ "$bad" = short ] && rows=$((n - 1))
awk -v n="$rows" -v seed="$seed" -v bad="$bad" 'BEGIN {
  print "index,score"
  for (i = 0; i < n; i++) {
    s = ((i + 1) * 2654435761 + seed * 40503) % 1000003 / 1000003
    if (bad == "nan" && i == 5) s = "nan"
    printf "%d,%s\n", i, s
  }
}' > "$out"
if [ "$bad" != nometa ]; then
  printf '{"method": "awk_hash", "keep": "high", "params": {"seed": %s}, "dataset_sha256": "not computed", "version": "1"}\n' \
    "$seed" > "$out_meta"
fi

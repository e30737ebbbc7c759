#!/bin/sh
# Every optimizer x topology x attack of `signsgd run` at M = 9 (2 Byzantine,
# 1 blind rank), one epoch, once with the process launcher and once with
# --launcher sim; prints one Markdown row per configuration with both final
# models' sha256 and whether they match. The names come from `run --help`'s
# registries; configurations `run --dry-run` refuses are skipped.
# Usage: run.sh BIN DATASET MODEL [more run flags...]
set -u
BIN=$1 DATASET=$2 MODEL=$3
shift 3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
names() { "$BIN" run --help 2>&1 | awk -v h="$1" '$0 ~ h {on=1; next} on && /^  [a-z]/ {print $1; next} on {exit}'; }
OPTS=$(names '^optimizers')
ATTACKS=$(names '^attacks of')
TOPOS="server ring allgather shard"
echo "| dataset | optimizer | topology | attack | processes | sim | same |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for opt in $OPTS; do for topo in $TOPOS; do for atk in $ATTACKS; do
	args="--dataset $DATASET --model $MODEL --opt $opt --topology $topo --workers 9 --byzantine 2 --blind 1 --attack $atk --epochs 1 --quiet $*"
	"$BIN" run $args --dry-run --out "$TMP/x" >/dev/null 2>&1 || continue
	rm -rf "$TMP/p" "$TMP/s"
	"$BIN" run $args --launcher local --out "$TMP/p" >/dev/null 2>"$TMP/err" || { echo "| $DATASET | $opt | $topo | $atk | failed: $(head -c 120 "$TMP/err") | | no |"; continue; }
	"$BIN" run $args --launcher sim --out "$TMP/s" >/dev/null 2>"$TMP/err" || { echo "| $DATASET | $opt | $topo | $atk | | failed: $(head -c 120 "$TMP/err") | no |"; continue; }
	p=$(sed -n 's/.*"model_sha256": *"\([0-9a-f]\{16\}\).*/\1/p' "$TMP/p/summary.json")
	s=$(sed -n 's/.*"model_sha256": *"\([0-9a-f]\{16\}\).*/\1/p' "$TMP/s/summary.json")
	same=no; [ -n "$p" ] && [ "$p" = "$s" ] && same=yes
	echo "| $DATASET | $opt | $topo | $atk | $p | $s | $same |"
done; done; done

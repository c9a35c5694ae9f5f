#!/usr/bin/env bash
# Submits a sharded run to Slurm as a chain of jobs, each waiting for the one before (afterok):
#
#   0. prompt.sbatch, if the recipe lists prompt            scalpel tune-prompt RECIPE
#   1. collect.sbatch, an array of COLLECT_SHARDS tasks     scalpel collect RECIPE --shard i/N
#   2. merge.sbatch, STAGE=collect                           scalpel merge --stage collect; scalpel rank
#   3. ablate.sbatch, an array of ABLATE_SHARDS tasks        scalpel ablate RECIPE --shard i/N
#   4. merge.sbatch, STAGE=ablate                            scalpel merge --stage ablate
#
# Each step is submitted when the recipe lists its stage (collect for 1 and 2, ablate for 3 and 4).
# Stages after them (edit, audit) are not sharded: run `scalpel run RECIPE` once the chain is done;
# it reuses every finished stage.
#
#   deploy/slurm/submit.sh [RECIPE] [SBATCH OPTION…]
#
# Run it from Scalpel's root (the folder with checkpoints/ and data/) on storage every node shares;
# the jobs run there. SBATCH OPTIONs go to every job (e.g. --partition=cpu --account=lab), as do
# sbatch's own variables (SBATCH_PARTITION, SBATCH_ACCOUNT…). Resources are the #SBATCH lines of each
# .sbatch file. Prints one line per job: its step, its job id, what it waits for.
#
# If a task fails, the jobs after it are cancelled (--kill-on-invalid-dep). `scalpel status RECIPE`
# then names the shards to run again; run just those, then the rest of the chain (docs/scale.md).
set -euo pipefail

# Parameters: edit the defaults here, or set them in the environment.
export SCALPEL=${SCALPEL:-scalpel}                  # the binary, e.g. /shared/scalpel/.build/release/scalpel
RECIPE=${RECIPE:-Recipes/sentiment-smollm2.yaml}    # relative to this folder, or absolute
COLLECT_SHARDS=${COLLECT_SHARDS:-8}                 # N of the collection
ABLATE_SHARDS=${ABLATE_SHARDS:-4}                   # N of the ablation sweep

if [[ $# -gt 0 && $1 != -* ]]; then RECIPE=$1; shift; fi
export RECIPE
if [[ ! -f $RECIPE ]]; then
    echo "error: no recipe at $RECIPE (from $PWD); run this from Scalpel's root" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The recipe's stages, from its top-level `stages:` list, in flow ([a, b]) or block (- a) style.
stages=" $(awk '
    /^stages:/ {
        line = $0; sub(/^stages:[ \t]*/, "", line); sub(/#.*/, "", line)
        if (line ~ /^\[/) { gsub(/[][,"\047]/, " ", line); print line; exit }
        block = 1; next
    }
    block && /^[ \t]*-/ { item = $0; sub(/#.*/, "", item); sub(/^[ \t]*-[ \t]*/, "", item); gsub(/["\047]/, "", item); printf "%s ", item; next }
    block && /^[^ \t#]/ { exit }
' "$RECIPE" | xargs) "
if [[ $stages != *" collect "* && $stages != *" ablate "* ]]; then
    echo "error: $RECIPE lists neither collect nor ablate (its stages:$stages); nothing to shard" >&2
    exit 2
fi

# sbatch --parsable prints "id" or "id;cluster".
submit() { local id; id=$(sbatch --parsable "$@"); echo "${id%%;*}"; }

# submit_next SBATCH OPTION… SCRIPT: submits a job that waits for the one submitted before (if any),
# and is cancelled if that one fails. Sets $last to its id, and $previous to the one before.
last=""
submit_next() {
    previous=$last
    if [[ -n $previous ]]; then
        last=$(submit --dependency="afterok:$previous" --kill-on-invalid-dep=yes "$@")
    else
        last=$(submit "$@")
    fi
}

if [[ $stages == *" prompt "* ]]; then
    submit_next "$@" "$here/prompt.sbatch"
    echo "prompt $last (tune-prompt)"
fi
if [[ $stages == *" collect "* ]]; then
    submit_next --array="0-$((COLLECT_SHARDS - 1))" --export="ALL,SHARDS=$COLLECT_SHARDS" "$@" "$here/collect.sbatch"
    echo "collect $last (array 0-$((COLLECT_SHARDS - 1))${previous:+; after $previous})"
    submit_next --export="ALL,STAGE=collect" "$@" "$here/merge.sbatch"
    echo "merge-collect $last (merge, rank; after $previous)"
fi
if [[ $stages == *" ablate "* ]]; then
    submit_next --array="0-$((ABLATE_SHARDS - 1))" --export="ALL,SHARDS=$ABLATE_SHARDS" "$@" "$here/ablate.sbatch"
    echo "ablate $last (array 0-$((ABLATE_SHARDS - 1))${previous:+; after $previous})"
    submit_next --export="ALL,STAGE=ablate" "$@" "$here/merge.sbatch"
    echo "merge-ablate $last (after $previous)"
fi

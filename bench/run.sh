echo "run.sh: not yet"

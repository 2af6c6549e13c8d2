"""Small shared pieces, one job each: bounded reads, atomic files, log lines, timing, specs."""

-- ARGV: limit → number put back
return reap(nowms(), tonumber(ARGV[1]))

-- ARGV: id, worker, resultJson, hasResult, token|''
return complete(ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', nowms(), ARGV[5])

module github.com/switchboard-ai/switchboard/bench/failover

go 1.26

module github.com/switchboard-ai/switchboard/bench/cachereplay

go 1.26

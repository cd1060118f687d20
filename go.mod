module github.com/switchboard-ai/switchboard

go 1.26

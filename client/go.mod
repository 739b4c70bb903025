module github.com/novamed/partner-api/client

go 1.26.0

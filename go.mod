module github.com/mlsnode/mlsnode

go 1.26

require (
	github.com/cloudflare/circl v1.6.5 // indirect
	golang.org/x/crypto v0.58.0 // indirect
)

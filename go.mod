module github.com/mlsnode/mlsnode

go 1.26.0

require (
	github.com/cloudflare/circl v1.6.5
	github.com/ipfs/go-datastore v0.9.2
	github.com/ipfs/go-ds-leveldb v0.5.0
	github.com/syndtr/goleveldb v1.0.0
	golang.org/x/crypto v0.58.0
)

require (
	github.com/golang/snappy v0.0.0-20180518054509-2e65f85255db // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/ipfs/go-detect-race v0.0.1 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

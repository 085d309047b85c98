// Package server implements the MLSClient gRPC service of the MLS working
// group's interoperability harness (mlswg/mls-implementations,
// interop/proto/mls_client.proto) on top of mlsnode's engine.
//
// The harness drives each client through numbered states (a member's view
// of one group) and transactions (a KeyPackage waiting for its Welcome, a
// ReInit waiting for the new group, an external signer). Server keeps them
// in memory under one lock: the engine's Group is not safe for concurrent
// use, and the harness sends one request at a time per client anyway.
//
// Every RPC of the interface is served by the engine; nothing is faked.
// Malformed input from the harness (bad MLS bytes, unknown ids) is
// codes.InvalidArgument or codes.NotFound; a message the engine rejects
// is codes.FailedPrecondition with the engine's error.
package server

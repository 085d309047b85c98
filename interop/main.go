// Command interop is mlsnode's client for the MLS working group's
// interoperability harness (mlswg/mls-implementations, interop/): a gRPC
// server implementing the MLSClient service over mlsnode's engine. The
// harness's test-runner connects to it with -client host:port.
//
//	go run -C interop . -port 50051
//
// It listens on the loopback interface unless -host says otherwise.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
	"github.com/mlsnode/mlsnode/interop/server"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 50051, "TCP port to listen on")
	flag.Parse()

	lis, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		log.Fatalf("interop: %v", err)
	}
	srv := grpc.NewServer()
	pb.RegisterMLSClientServer(srv, server.New())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		srv.GracefulStop()
	}()
	log.Printf("interop: %s client listening on %s", server.Name, lis.Addr())
	if err := srv.Serve(lis); err != nil {
		log.Fatalf("interop: %v", err)
	}
}

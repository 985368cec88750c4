package server

import (
	"context"
	"fmt"
	"net"

	"code.cloudfoundry.org/lager/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/authz"
	"github.com/locket-release/locket/models"
)

type identityKey struct{}

// identityCreds works out a connection's identity once, at its handshake:
// rendering the certificate's subject on every request cost about 4% of the
// server's CPU on the renewal path (docs/benchmarks.md).
type identityCreds struct {
	credentials.TransportCredentials
}

// identityInfo is the connection's TLS state and the identity of its
// verified client certificate.
type identityInfo struct {
	credentials.TLSInfo
	id authz.Identity
}

func (c identityCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return conn, info, err
	}
	tlsInfo, ok := info.(credentials.TLSInfo)
	if !ok || len(tlsInfo.State.PeerCertificates) == 0 {
		return conn, info, nil
	}
	return conn, identityInfo{TLSInfo: tlsInfo, id: authz.IdentityOf(tlsInfo.State.PeerCertificates[0])}, nil
}

func (c identityCreds) Clone() credentials.TransportCredentials {
	return identityCreds{c.TransportCredentials.Clone()}
}

// peerIdentity returns the identity of the connection's verified client
// certificate (identityCreds).
func peerIdentity(ctx context.Context) authz.Identity {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return authz.Identity{}
	}
	if info, ok := p.AuthInfo.(identityInfo); ok {
		return info.id
	}
	return authz.Identity{}
}

// identityOf returns the identity the interceptor stored in ctx.
func identityOf(ctx context.Context) authz.Identity {
	if id, ok := ctx.Value(identityKey{}).(authz.Identity); ok {
		return id
	}
	return authz.Identity{}
}

// authzRequest says what a request asks for; ok is false for requests the
// rules do not govern (other services).
func authzRequest(req any) (authz.Request, bool) {
	switch r := req.(type) {
	case *models.LockRequest:
		return authz.Request{Operation: "lock", Key: r.GetResource().GetKey(), Type: models.TypeString(r.GetResource().GetTypeCode())}, true
	case *models.ReleaseRequest:
		return authz.Request{Operation: "release", Key: r.GetResource().GetKey(), Type: models.TypeString(r.GetResource().GetTypeCode())}, true
	case *models.FetchRequest:
		// The type is the stored one: checked on the response.
		return authz.Request{Operation: "fetch", Key: r.GetKey()}, true
	case *models.FetchAllRequest:
		return authz.Request{Operation: "fetch_all", Type: models.TypeString(r.GetTypeCode())}, true
	case *models.WatchRequest:
		return authz.Request{Operation: "watch", Key: r.GetKey(), Type: models.TypeString(r.GetTypeCode())}, true
	case *models.HistoryRequest:
		return authz.Request{Operation: "history", Key: r.GetKey(), Type: models.TypeString(r.GetTypeCode())}, true
	}
	return authz.Request{}, false
}

// authorizer applies the rules. With no rules it only records the caller's
// identity (for history).
type authorizer struct {
	rules  authz.Config
	logger lager.Logger
}

// check returns nil or the PermissionDenied answer, logging one line.
func (a *authorizer) check(ctx context.Context, id authz.Identity, r authz.Request) error {
	if _, ok := a.rules.Allow(id, r); ok {
		return nil
	}
	err := status.Error(codes.PermissionDenied, fmt.Sprintf("permission-denied: %s may not %s", id.Subject, describe(r)))
	data := lager.Data{"identity": id.Subject, "operation": r.Operation, "key": r.Key, "type": r.Type}
	if rid := RequestID(ctx); rid != "" {
		data["request-uuid"] = rid
	}
	a.logger.Error("permission-denied", err, data)
	return err
}

func describe(r authz.Request) string {
	s := r.Operation
	if r.Key != "" {
		s += fmt.Sprintf(" key %q", r.Key)
	}
	if r.Type != "" {
		s += " of type " + r.Type
	}
	return s
}

func (a *authorizer) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if rpcName(info.FullMethod) == "" {
			return handler(ctx, req)
		}
		id := peerIdentity(ctx)
		ctx = context.WithValue(ctx, identityKey{}, id)
		r, ok := authzRequest(req)
		if !ok || !a.rules.Enabled() {
			return handler(ctx, req)
		}
		if r.Operation != "fetch" {
			if err := a.check(ctx, id, r); err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}
		// Fetch names no type: decide on the stored lock's. A key the caller
		// may not read answers as a missing one would if no rule grants the
		// key at all, and PermissionDenied otherwise.
		resp, err := handler(ctx, req)
		typ := ""
		if f, ok := resp.(*models.FetchResponse); ok && err == nil {
			typ = f.GetResource().GetType()
		}
		r.Type = typ
		if typ == "" {
			// Not found (or an error): deny only if no type could be allowed.
			for _, t := range []string{"lock", "presence"} {
				if _, ok := a.rules.Allow(id, authz.Request{Operation: "fetch", Key: r.Key, Type: t}); ok {
					return resp, err
				}
			}
		}
		if cerr := a.check(ctx, id, r); cerr != nil {
			return nil, cerr
		}
		return resp, err
	}
}

// identityStream carries the identity in the stream's context.
type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s identityStream) Context() context.Context { return s.ctx }

func (a *authorizer) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if rpcName(info.FullMethod) == "" {
			return handler(srv, ss)
		}
		id := peerIdentity(ss.Context())
		ctx := context.WithValue(ss.Context(), identityKey{}, id)
		return handler(srv, &checkedStream{identityStream{ss, ctx}, a, id})
	}
}

// checkedStream checks the (single) request message of a server stream when
// the handler reads it.
type checkedStream struct {
	identityStream
	a  *authorizer
	id authz.Identity
}

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if r, ok := authzRequest(m); ok && s.a.rules.Enabled() {
		return s.a.check(s.ctx, s.id, r)
	}
	return nil
}

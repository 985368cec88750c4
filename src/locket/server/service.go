// Package server is the Locket gRPC service: it validates requests exactly as
// upstream Locket does, maps store results to upstream's error values, logs
// in upstream's shape (lager sessions, message names) and counts requests.
package server

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"code.cloudfoundry.org/lager/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/store"
)

// Store is what the service needs from the locks table.
type Store interface {
	Lock(ctx context.Context, l store.Lock) (store.LockResult, error)
	Release(ctx context.Context, key, owner string) (store.Lock, error)
	ReleaseAs(ctx context.Context, rel store.Release) (store.Lock, error)
	Fetch(ctx context.Context, key string) (store.Lock, error)
	EachLock(ctx context.Context, typ string, f func(store.RawLock) error) error
	History(ctx context.Context, q store.HistoryQuery) ([]store.Event, error)
}

// DefaultDBOperationTimeout is upstream's deadline for one request's
// database work.
const DefaultDBOperationTimeout = 10 * time.Second

// Errors of ours (upstream panics or answers Unknown in these cases).
var (
	ErrMissingResource = status.Error(codes.InvalidArgument, "invalid-resource: the request has no resource")
	// ErrUnavailable is the answer when the database cannot be reached; the
	// log line has the cause, the client gets no internals.
	ErrUnavailable = status.Error(codes.Unavailable, "database-unavailable")
)

// Service implements models.LocketServer.
type Service struct {
	models.UnimplementedLocketServer

	logger    lager.Logger
	store     Store
	dbTimeout time.Duration
	// feed serves Watch; nil answers Unimplemented.
	feed *Feed
	// enforce binds a lock to its acquirer's identity (authorization on).
	enforce bool
	// fetchAll shares reads between concurrent FetchAll callers.
	fetchAll fetchAllGroup
}

// NewService returns the service. logger is the component's root logger
// ("locket"); each request logs in a session named after the RPC, as upstream.
func NewService(logger lager.Logger, st Store, dbOperationTimeout time.Duration) *Service {
	if dbOperationTimeout <= 0 {
		dbOperationTimeout = DefaultDBOperationTimeout
	}
	return &Service{logger: logger, store: st, dbTimeout: dbOperationTimeout}
}

// RequestID returns the request id a client sent in metadata key "uuid".
func RequestID(ctx context.Context) string {
	// Not FromIncomingContext: that copies all the metadata, on every call
	// (several per request).
	if v := metadata.ValueFromIncomingContext(ctx, "uuid"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// session starts the request's lager session; every line of the request
// carries request-uuid when the client sent one.
func (s *Service) session(ctx context.Context, name string) lager.Logger {
	if id := RequestID(ctx); id != "" {
		return s.logger.Session(name, lager.Data{"request-uuid": id})
	}
	return s.logger.Session(name)
}

// dbContext bounds the request's database work. It is not cancelled with the
// request (as upstream): a client that gives up does not abort a statement
// halfway, which on MySQL would also cost the connection. A write that has
// not started when the client gives up is not started (store.WithCaller).
func (s *Service) dbContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.dbTimeout)
	return store.WithCaller(dbCtx, ctx), cancel
}

// storeError logs a database failure and maps it to the gRPC answer. A
// write its client gave up on before it started is no failure of ours:
// the interceptor's context-cancelled line records it.
func (s *Service) storeError(ctx context.Context, logger lager.Logger, action string, err error) error {
	if !errors.Is(err, store.ErrAbandoned) {
		logger.Error(action, err)
	}
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return ErrUnavailable
}

func lockData(key, owner, typ string) lager.Data {
	return lager.Data{
		"key":       key,
		"owner":     owner,
		"type":      typ,
		"type-code": int32(models.TypeCodeOf(typ)),
	}
}

// checkLength enforces a column limit, counting characters as the database
// does (VARCHAR(n) is n characters).
func checkLength(field, v string, limit int) error {
	if n := utf8.RuneCountInString(v); n > limit {
		return status.Errorf(codes.InvalidArgument, "%s-too-long: %s has %d characters, the limit is %d", field, field, n, limit)
	}
	return nil
}

func checkResourceLengths(r *models.Resource) error {
	if err := checkLength("key", r.GetKey(), store.MaxKeyLength); err != nil {
		return err
	}
	if err := checkLength("owner", r.GetOwner(), store.MaxOwnerLength); err != nil {
		return err
	}
	return checkLength("value", r.GetValue(), store.MaxValueLength)
}

// Lock acquires or renews a lock.
func (s *Service) Lock(ctx context.Context, req *models.LockRequest) (*models.LockResponse, error) {
	logger := s.session(ctx, "lock")
	logger.Debug("started")
	defer logger.Debug("complete")

	res := req.GetResource()
	if res == nil {
		logger.Error("invalid-request", ErrMissingResource)
		return nil, ErrMissingResource
	}
	// Upstream's order: type, then ttl, then owner. The deprecated type
	// string is ignored; only type_code counts.
	typ := models.TypeString(res.GetTypeCode())
	if typ == "" {
		logger.Error("invalid-request", models.ErrInvalidType, lager.Data{"typeCode": int32(res.GetTypeCode())})
		return nil, models.ErrInvalidType
	}
	if req.GetTtlInSeconds() <= 0 {
		logger.Error("failed-locking-lock", models.ErrInvalidTTL, lager.Data{"key": res.GetKey(), "owner": res.GetOwner()})
		return nil, models.ErrInvalidTTL
	}
	if res.GetOwner() == "" {
		logger.Error("failed-locking-lock", models.ErrInvalidOwner, lager.Data{"key": res.GetKey(), "owner": res.GetOwner()})
		return nil, models.ErrInvalidOwner
	}
	if err := checkResourceLengths(res); err != nil {
		logger.Error("invalid-request", err)
		return nil, err
	}
	if req.GetTtlInSeconds() > store.MaxTTL {
		err := status.Errorf(codes.InvalidArgument, "ttl-too-long: ttl %d s is over the maximum of %d s", req.GetTtlInSeconds(), int64(store.MaxTTL))
		logger.Error("invalid-request", err)
		return nil, err
	}

	lockLogger := logger.Session("lock", lockData(res.GetKey(), res.GetOwner(), typ))
	dbCtx, cancel := s.dbContext(ctx)
	defer cancel()
	result, err := s.store.Lock(dbCtx, store.Lock{
		Key:          res.GetKey(),
		Owner:        res.GetOwner(),
		Value:        res.GetValue(),
		Type:         typ,
		TTL:          req.GetTtlInSeconds(),
		Identity:     identityOf(ctx).Subject,
		BindIdentity: s.enforce,
		RequestID:    RequestID(ctx),
	})
	switch {
	case err == nil:
		if result.Acquired {
			data := lager.Data{"fencing-token": result.FencingToken}
			if result.PreviousOwner != "" {
				data["previous-owner"] = result.PreviousOwner
			}
			lockLogger.Info("acquired-lock", data)
		} else {
			lockLogger.Debug("renewed-lock", lager.Data{"fencing-token": result.FencingToken})
		}
		return &models.LockResponse{FencingToken: result.FencingToken}, nil
	case errors.Is(err, store.ErrCollision):
		// A standby retrying, or a restarted process colliding with its old
		// self: normal, so not an error line (upstream: debug too).
		lockLogger.Debug("lock-already-exists")
		return nil, models.ErrLockCollision
	default:
		return nil, s.storeError(ctx, lockLogger, "failed-locking-lock", err)
	}
}

// Release removes a lock held by the request's owner.
func (s *Service) Release(ctx context.Context, req *models.ReleaseRequest) (*models.ReleaseResponse, error) {
	logger := s.session(ctx, "release")
	logger.Debug("started")
	defer logger.Debug("complete")

	res := req.GetResource()
	if res == nil {
		logger.Error("invalid-request", ErrMissingResource)
		return nil, ErrMissingResource
	}
	if err := checkResourceLengths(res); err != nil {
		logger.Error("invalid-request", err)
		return nil, err
	}

	dbCtx, cancel := s.dbContext(ctx)
	defer cancel()
	released, err := s.store.ReleaseAs(dbCtx, store.Release{
		Key: res.GetKey(), Owner: res.GetOwner(), Identity: identityOf(ctx).Subject, RequestID: RequestID(ctx),
		CheckIdentity: s.enforce,
	})
	switch {
	case errors.Is(err, store.ErrForbidden):
		logger.Session("release-lock", lager.Data{"key": res.GetKey(), "owner": res.GetOwner()}).Error("permission-denied", err,
			lager.Data{"identity": identityOf(ctx).Subject})
		return nil, status.Error(codes.PermissionDenied, "permission-denied: the lock was acquired with another client certificate")
	case err == nil && released == (store.Lock{}):
		logger.Session("release-lock", lager.Data{"key": res.GetKey(), "owner": res.GetOwner()}).Debug("lock-does-not-exist")
		return &models.ReleaseResponse{}, nil
	case err == nil:
		// Data from the row that was deleted: the request's type is ignored.
		logger.Session("release-lock", lockData(released.Key, released.Owner, released.Type)).Info("released-lock")
		return &models.ReleaseResponse{}, nil
	case errors.Is(err, store.ErrCollision):
		// A standby that never held the lock releases it on shutdown: normal.
		logger.Session("release-lock", lager.Data{"key": res.GetKey(), "owner": res.GetOwner()}).Debug("cannot-release-lock")
		return nil, models.ErrLockCollision
	default:
		return nil, s.storeError(ctx, logger.Session("release-lock", lager.Data{"key": res.GetKey(), "owner": res.GetOwner()}), "failed-to-release-lock", err)
	}
}

func toResource(l store.Lock) *models.Resource {
	return &models.Resource{
		Key:      l.Key,
		Owner:    l.Owner,
		Value:    l.Value,
		Type:     l.Type,
		TypeCode: models.TypeCodeOf(l.Type),

		FencingToken:         l.FencingToken,
		AcquiredAtUnixMicros: l.AcquiredAt,
		ExpiresInMs:          max(0, l.ExpiresIn/1000),
	}
}

// Fetch returns an owned lock.
func (s *Service) Fetch(ctx context.Context, req *models.FetchRequest) (*models.FetchResponse, error) {
	logger := s.session(ctx, "fetch")
	logger.Debug("started")
	defer logger.Debug("complete")

	// A key longer than the column cannot exist (upstream answers not found).
	if utf8.RuneCountInString(req.GetKey()) > store.MaxKeyLength {
		return nil, models.ErrResourceNotFound
	}
	dbCtx, cancel := s.dbContext(ctx)
	defer cancel()
	l, err := s.store.Fetch(dbCtx, req.GetKey())
	switch {
	case err == nil && l.Owner != "":
		return &models.FetchResponse{Resource: toResource(l)}, nil
	case err == nil || errors.Is(err, store.ErrNotFound):
		logger.Debug("lock-not-found", lager.Data{"key": req.GetKey()})
		return nil, models.ErrResourceNotFound
	default:
		return nil, s.storeError(ctx, logger.Session("fetch-lock", lager.Data{"key": req.GetKey()}), "failed-to-fetch-lock", err)
	}
}

// FetchAll returns every owned lock of a type.
func (s *Service) FetchAll(ctx context.Context, req *models.FetchAllRequest) (*models.FetchAllResponse, error) {
	logger := s.session(ctx, "fetch-all")
	logger.Debug("started")
	defer logger.Debug("complete")

	typ := models.TypeString(req.GetTypeCode())
	if typ == "" {
		logger.Error("invalid-request", models.ErrInvalidType, lager.Data{"typeCode": int32(req.GetTypeCode())})
		return nil, models.ErrInvalidType
	}
	encoded, err := s.fetchAll.do(ctx, typ, func(sizeHint int) ([]byte, error) {
		dbCtx, cancel := s.dbContext(ctx) // not cancelled with ctx
		defer cancel()
		b := make([]byte, 0, sizeHint+sizeHint/8) // room for some growth
		err := s.store.EachLock(dbCtx, typ, func(l store.RawLock) error {
			var err error
			b, err = appendResource(b, l)
			return err
		})
		if err != nil {
			return nil, err
		}
		return b, nil
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
			// The caller gave up while waiting for a shared read: nothing
			// failed.
			return nil, status.FromContextError(cerr).Err()
		}
		return nil, s.storeError(ctx, logger.Session("fetch-all-locks", lager.Data{"type": typ}), "failed-to-fetch-locks", err)
	}
	return encodedFetchAll(encoded), nil
}

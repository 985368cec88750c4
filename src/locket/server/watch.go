package server

import (
	"context"

	"code.cloudfoundry.org/lager/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/store"
)

// Our RPCs: Watch and History (docs/features.md).

var eventTypes = map[string]models.EventType{
	store.EventAcquired:  models.EventType_ACQUIRED,
	store.EventTakenOver: models.EventType_TAKEN_OVER,
	store.EventReleased:  models.EventType_RELEASED,
	store.EventExpired:   models.EventType_EXPIRED,
}

func toEvent(e store.Event) *models.Event {
	return &models.Event{
		Id:   e.ID,
		Type: eventTypes[e.Type],
		Resource: &models.Resource{
			Key: e.Key, Owner: e.Owner, Value: e.Value, Type: e.LockType, TypeCode: models.TypeCodeOf(e.LockType),
			FencingToken: e.FencingToken,
		},
		PreviousOwner: e.PreviousOwner,
		AtUnixMicros:  e.At,
		Server:        e.Server,
		RequestId:     e.RequestID,
		Identity:      e.Identity,
	}
}

// optionalType reads a type code where UNKNOWN means "every type".
func optionalType(c models.TypeCode) (string, error) {
	if c == models.TypeCode_UNKNOWN {
		return "", nil
	}
	if t := models.TypeString(c); t != "" {
		return t, nil
	}
	return "", models.ErrInvalidType
}

// Watch streams the ownership changes of one key, or of every lock of a
// type, made through any server. It first sends WATCH_STARTED: every change
// committed after that is delivered.
func (s *Service) Watch(req *models.WatchRequest, stream models.Locket_WatchServer) error {
	ctx := stream.Context()
	logger := s.session(ctx, "watch")
	if s.feed == nil {
		return status.Error(codes.Unimplemented, "watch is not enabled on this server")
	}
	typ, err := optionalType(req.GetTypeCode())
	if err != nil {
		return err
	}
	key := req.GetKey()
	sub := s.feed.Subscribe(func(e store.Event) bool {
		return (key == "" || e.Key == key) && (typ == "" || e.LockType == typ)
	})
	defer s.feed.Unsubscribe(sub)
	logger.Debug("started", lager.Data{"key": key, "type": typ})
	defer logger.Debug("complete")

	select {
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-sub.ready:
	}
	if err := stream.Send(&models.Event{Type: models.EventType_WATCH_STARTED}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.feed.Closing():
			return status.Error(codes.Unavailable, "server-stopping: watch again")
		case <-sub.lagged:
			logger.Info("watch-lagging", lager.Data{"key": key, "type": typ})
			return status.Error(codes.ResourceExhausted, "watch-lagging: the stream fell behind; watch again")
		case e := <-sub.C:
			if err := stream.Send(toEvent(e)); err != nil {
				return err
			}
		}
	}
}

// History returns recorded ownership changes, newest first.
func (s *Service) History(ctx context.Context, req *models.HistoryRequest) (*models.HistoryResponse, error) {
	logger := s.session(ctx, "history")
	typ, err := optionalType(req.GetTypeCode())
	if err != nil {
		return nil, err
	}
	if req.GetLimit() < 0 || req.GetLimit() > 1000 {
		return nil, status.Errorf(codes.InvalidArgument, "invalid-limit: limit %d is not between 0 and 1000", req.GetLimit())
	}
	dbCtx, cancel := s.dbContext(ctx)
	defer cancel()
	evs, err := s.store.History(dbCtx, store.HistoryQuery{
		Key: req.GetKey(), LockType: typ, Limit: int(req.GetLimit()), BeforeID: req.GetBeforeId(),
	})
	if err != nil {
		return nil, s.storeError(ctx, logger, "failed-to-read-history", err)
	}
	resp := &models.HistoryResponse{}
	for _, e := range evs {
		resp.Events = append(resp.Events, toEvent(e))
	}
	return resp, nil
}

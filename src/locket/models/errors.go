package models

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The errors upstream Locket returns, with the exact codes and descriptions
// its clients compare against (see the protocol contract).
var (
	ErrLockCollision    = status.Error(codes.AlreadyExists, "lock-collision")
	ErrInvalidTTL       = status.Error(codes.InvalidArgument, "invalid-ttl")
	ErrInvalidOwner     = status.Error(codes.InvalidArgument, "invalid-owner")
	ErrResourceNotFound = status.Error(codes.NotFound, "resource-not-found")
	// Upstream answers NotFound (sic) for an unknown type code; clients rely on it.
	ErrInvalidType = status.Error(codes.NotFound, "invalid-type")
)

// Stored type strings.
const (
	LockType     = "lock"
	PresenceType = "presence"
)

// TypeString returns the string stored in the locks table for a type code,
// or "" for UNKNOWN and undefined values.
func TypeString(c TypeCode) string {
	switch c {
	case TypeCode_LOCK:
		return LockType
	case TypeCode_PRESENCE:
		return PresenceType
	}
	return ""
}

// TypeCodeOf returns the type code for a stored type string.
func TypeCodeOf(s string) TypeCode {
	switch s {
	case LockType:
		return TypeCode_LOCK
	case PresenceType:
		return TypeCode_PRESENCE
	}
	return TypeCode_UNKNOWN
}

package util

type Pointer struct{ Value any }

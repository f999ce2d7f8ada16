package local_test

import (
	"testing"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/bus/bustest"
	"github.com/whirlfaas/whirl/internal/bus/local"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus { return local.New() })
}

func BenchmarkRoundTrip(b *testing.B) {
	bb := local.New()
	defer bb.Close()
	bustest.BenchmarkRoundTrip(b, bb)
}

func BenchmarkThroughput(b *testing.B) {
	bb := local.New()
	defer bb.Close()
	bustest.BenchmarkThroughput(b, bb)
}

func BenchmarkPublish(b *testing.B) {
	bb := local.New()
	defer bb.Close()
	bustest.BenchmarkPublish(b, bb)
}

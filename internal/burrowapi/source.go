package burrowapi

import (
	"context"
	"errors"
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// Source answers the API's questions as of instant at; a zero at means the latest data.
type Source interface {
	Clusters(ctx context.Context, at time.Time) ([]string, error)
	Consumers(ctx context.Context, at time.Time, cluster string) ([]string, error)
	Consumer(ctx context.Context, at time.Time, cluster, group string) (Consumer, error)
	Topics(ctx context.Context, at time.Time, cluster string) ([]string, error)
	Topic(ctx context.Context, at time.Time, cluster, topic string) ([]int64, error)
	TopicConsumers(ctx context.Context, at time.Time, cluster, topic string) ([]string, error)
}

type Consumer struct {
	Window evaluate.GroupWindow
	Result evaluate.GroupResult
}

var (
	ErrClusterNotFound = errors.New("cluster not found")
	ErrGroupNotFound   = errors.New("consumer group not found")
	ErrTopicNotFound   = errors.New("topic not found")
)

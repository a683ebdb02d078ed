package tftp

import (
	"slices"
	"testing"
	"time"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name    string
		server  Server
		options []option
		size    int64
		want    params
	}{
		{
			name: "no options",
			size: 10,
			want: params{blockSize: 512, windowSize: 1, timeout: DefaultTimeout},
		},
		{
			name:    "first valid of a repeated option counts",
			options: []option{{"blksize", "70000"}, {"blksize", "1024"}, {"blksize", "800"}},
			want:    params{blockSize: 1024, windowSize: 1, timeout: DefaultTimeout, accepted: []option{{"blksize", "1024"}}},
		},
		{
			name:    "client timeout overrides the server's",
			server:  Server{Timeout: 100 * time.Millisecond},
			options: []option{{"timeout", "3"}},
			want:    params{blockSize: 512, windowSize: 1, timeout: 3 * time.Second, accepted: []option{{"timeout", "3"}}},
		},
		{
			name:    "timeout at the cap is granted",
			options: []option{{"timeout", "5"}},
			want:    params{blockSize: 512, windowSize: 1, timeout: 5 * time.Second, accepted: []option{{"timeout", "5"}}},
		},
		{
			name:    "timeout over the cap is declined and the server's used",
			server:  Server{Timeout: 2 * time.Second},
			options: []option{{"timeout", "255"}, {"blksize", "1024"}},
			want:    params{blockSize: 1024, windowSize: 1, timeout: 2 * time.Second, accepted: []option{{"blksize", "1024"}}},
		},
		{
			name:    "a lower MaxTimeout declines what the default grants",
			server:  Server{MaxTimeout: 2 * time.Second},
			options: []option{{"timeout", "3"}, {"timeout", "2"}},
			want:    params{blockSize: 512, windowSize: 1, timeout: 2 * time.Second, accepted: []option{{"timeout", "2"}}},
		},
		{
			name:    "server limits",
			server:  Server{MaxBlockSize: 1024, MaxWindowSize: 4},
			options: []option{{"windowsize", "16"}, {"blksize", "1468"}, {"tsize", "0"}},
			size:    123,
			want: params{blockSize: 1024, windowSize: 4, timeout: DefaultTimeout,
				accepted: []option{{"windowsize", "4"}, {"blksize", "1024"}, {"tsize", "123"}}},
		},
		{
			name:    "window memory is bounded",
			server:  Server{MaxBlockSize: maxBlockSize, MaxWindowSize: maxWindowSize},
			options: []option{{"windowsize", "65535"}, {"blksize", "65464"}},
			want: params{blockSize: 65464, windowSize: 64, timeout: DefaultTimeout,
				accepted: []option{{"windowsize", "64"}, {"blksize", "65464"}}},
		},
	}
	for i := range tests {
		tt := &tests[i] // a Server must not be copied
		t.Run(tt.name, func(t *testing.T) {
			got := tt.server.negotiate(tt.options, tt.size)
			if got.blockSize != tt.want.blockSize || got.windowSize != tt.want.windowSize ||
				got.timeout != tt.want.timeout || !slices.Equal(got.accepted, tt.want.accepted) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

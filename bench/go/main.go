// Command etcdbench-go runs etcdstream's benchmark scenarios with etcd's own Go client
// (go.etcd.io/etcd/client/v3) and prints one JSON object of results on stdout.
//
// Scenarios (--scenario all|replay|readdir|latency; each does one untimed warm-up, then --runs timed runs):
//
//   - replay: a watch of --replay-prefix against bench/replay_server.py, which answers the create and then
//     sends its recorded WatchResponses as fast as gRPC takes them. Each run is a new Watch (a new stream,
//     as Go opens one per context metadata and closes it when its last watcher ends) consumed until the
//     recording's events are in; every event's type, key, value and mod_revision are passed to a function
//     the compiler may not inline, as the Python suites do. CPU is the whole process's user+sys
//     (getrusage(RUSAGE_SELF), every goroutine and the GC) around the run, divided by the events.
//     --replay LABEL,HOST:PORT,EVENTS once per replay server.
//   - readdir: every key under --readdir-prefix from --endpoint, wall time per run, two ways: one Get with
//     WithPrefix (what Go code and etcdctl do) and the pages etcdstream's readdir asks for (a first page of
//     --page-size keys, then, when the rest is estimated at <= 64 MiB, the rest in one Range at the first
//     page's revision).
//   - latency: a writer client puts one key at a time under --latency-prefix; a second client watches the
//     prefix on its own goroutine, which takes the time as each WatchResponse arrives. The latency of a put
//     is from just before Put to the arrival of its event; the next put starts after that arrival.
//
// bench/go/run_go_bench.py builds this, starts etcd and the replay servers, and prints the results next to
// etcdstream's for the same scenarios.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const (
	oneRangeBytes = 64 << 20 // etcdstream's ONE_RANGE_BYTES
	opTimeout     = 60 * time.Second
)

type replayTarget struct {
	Label    string
	Endpoint string
	Events   int
}

type replayTargets []replayTarget

func (r *replayTargets) String() string { return fmt.Sprint(*r) }

func (r *replayTargets) Set(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return errors.New("want LABEL,HOST:PORT,EVENTS")
	}
	events, err := strconv.Atoi(parts[2])
	if err != nil || events <= 0 {
		return fmt.Errorf("EVENTS: %q is not a positive number", parts[2])
	}
	*r = append(*r, replayTarget{Label: parts[0], Endpoint: parts[1], Events: events})
	return nil
}

// ReplayResult is one replay server's runs.
type ReplayResult struct {
	Endpoint        string    `json:"endpoint"`
	Events          int       `json:"events"`
	CPUMicrosPerEvt []float64 `json:"cpu_us_per_event"`
	WallSeconds     []float64 `json:"wall_s"`
	MedianCPU       float64   `json:"median_cpu_us_per_event"`
	MedianEventsPS  float64   `json:"median_events_per_s"`
}

// ReaddirResult is one way of reading a prefix.
type ReaddirResult struct {
	Keys        int       `json:"keys"`
	Requests    int       `json:"requests"`
	WallSeconds []float64 `json:"wall_s"`
	CPUSeconds  []float64 `json:"cpu_s"`
	MedianWall  float64   `json:"median_wall_s"`
}

// LatencyResult is one run of puts, each until its event arrived.
type LatencyResult struct {
	Puts      int       `json:"puts"`
	P50Millis []float64 `json:"p50_ms"`
	P99Millis []float64 `json:"p99_ms"`
	MaxMillis []float64 `json:"max_ms"`
	Micros    []float64 `json:"latencies_us,omitempty"`
}

// Output is what the program prints.
type Output struct {
	Client     string                    `json:"client"`
	Go         string                    `json:"go"`
	GOMAXPROCS int                       `json:"gomaxprocs"`
	Runs       int                       `json:"runs"`
	Replay     map[string]*ReplayResult  `json:"replay,omitempty"`
	Readdir    map[string]*ReaddirResult `json:"readdir,omitempty"`
	Latency    *LatencyResult            `json:"latency,omitempty"`
}

var sink int

// readFields is where an application would use the four fields of an event (as _read_fields in the
// Python suites); noinline keeps the call and its arguments.
//
//go:noinline
func readFields(t mvccpb.Event_EventType, key, value []byte, modRevision int64) {
	sink += int(t) + len(key) + len(value) + int(modRevision&1)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank rule of bench/test_consistent_reads.py.
func percentile(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(q * float64(len(s)))
	if i > len(s)-1 {
		i = len(s) - 1
	}
	return s[i]
}

func newClient(endpoint string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
}

func clientVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "go.etcd.io/etcd/client/v3" {
				return dep.Path + " " + dep.Version
			}
		}
	}
	return "go.etcd.io/etcd/client/v3 (version unknown)"
}

// --- replay ---

func replayRound(cli *clientv3.Client, prefix string, events int) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := 0
	for resp := range cli.Watch(ctx, prefix, clientv3.WithPrefix()) {
		if err := resp.Err(); err != nil {
			return seen, err
		}
		for _, ev := range resp.Events {
			readFields(ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
			seen++
		}
		if seen >= events {
			return seen, nil
		}
	}
	return seen, fmt.Errorf("the watch ended after %d of %d events", seen, events)
}

func runReplay(target replayTarget, prefix string, warmup, runs int) (*ReplayResult, error) {
	cli, err := newClient(target.Endpoint)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	out := &ReplayResult{Endpoint: target.Endpoint, Events: target.Events}
	for i := 0; i < warmup+runs; i++ {
		cpu0, wall0 := cpuSeconds(), time.Now()
		seen, err := replayRound(cli, prefix, target.Events)
		wall, cpu := time.Since(wall0).Seconds(), cpuSeconds()-cpu0
		if err != nil {
			return nil, fmt.Errorf("replay %s: %w", target.Label, err)
		}
		if seen != target.Events {
			return nil, fmt.Errorf("replay %s: %d events, expected %d", target.Label, seen, target.Events)
		}
		if i >= warmup {
			out.CPUMicrosPerEvt = append(out.CPUMicrosPerEvt, cpu/float64(seen)*1e6)
			out.WallSeconds = append(out.WallSeconds, wall)
		}
	}
	out.MedianCPU = median(out.CPUMicrosPerEvt)
	out.MedianEventsPS = float64(target.Events) / median(out.WallSeconds)
	return out, nil
}

// --- readdir ---

func getPrefix(cli *clientv3.Client, prefix string) (int, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, 1, err
	}
	return len(resp.Kvs), 1, nil
}

// readdirPages asks for the pages etcdstream's readdir asks for (src/etcdstream/_kv_ops.py readdir).
func readdirPages(cli *clientv3.Client, prefix string, pageSize int64) (int, int, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	start := prefix
	limit := pageSize
	var rev int64
	var kvs []*mvccpb.KeyValue
	for requests := 1; ; requests++ {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(limit)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		resp, err := cli.Get(ctx, start, opts...)
		cancel()
		if err != nil {
			return len(kvs), requests, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
			if resp.More && len(resp.Kvs) > 0 {
				rest := resp.Count - int64(len(resp.Kvs))
				if float64((*pb.RangeResponse)(resp).Size())/float64(len(resp.Kvs))*float64(rest) <= oneRangeBytes {
					limit = 0
				}
			}
		}
		if kvs == nil {
			kvs = resp.Kvs
		} else {
			kvs = append(kvs, resp.Kvs...)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return len(kvs), requests, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

func runReaddir(endpoint, prefix string, keys, warmup, runs int, read func(*clientv3.Client, string) (int, int, error)) (*ReaddirResult, error) {
	cli, err := newClient(endpoint)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	out := &ReaddirResult{}
	for i := 0; i < warmup+runs; i++ {
		runtime.GC() // the previous run's 100,000 KeyValues are garbage: collect them outside the timed run
		cpu0, wall0 := cpuSeconds(), time.Now()
		n, requests, err := read(cli, prefix)
		wall, cpu := time.Since(wall0).Seconds(), cpuSeconds()-cpu0
		if err != nil {
			return nil, err
		}
		if keys > 0 && n != keys {
			return nil, fmt.Errorf("read %d keys under %s, expected %d", n, prefix, keys)
		}
		out.Keys, out.Requests = n, requests
		if i >= warmup {
			out.WallSeconds = append(out.WallSeconds, wall)
			out.CPUSeconds = append(out.CPUSeconds, cpu)
		}
	}
	out.MedianWall = median(out.WallSeconds)
	return out, nil
}

// --- latency ---

type arrival struct {
	revision int64
	at       time.Time
}

func runLatency(endpoint, prefix string, puts, warmup, runs int, raw bool) (*LatencyResult, error) {
	writer, err := newClient(endpoint)
	if err != nil {
		return nil, err
	}
	defer writer.Close()
	watcher, err := newClient(endpoint)
	if err != nil {
		return nil, err
	}
	defer watcher.Close()
	value := strings.Repeat("v", 150)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := writer.Put(ctx, prefix+"start", value)
	if err != nil {
		return nil, err
	}
	// From the next revision on: no put can come before the watch exists.
	wch := watcher.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision+1))
	arrivals := make(chan arrival, 1024)
	go func() {
		defer close(arrivals)
		for resp := range wch {
			now := time.Now()
			if resp.Err() != nil {
				return
			}
			for _, ev := range resp.Events {
				arrivals <- arrival{ev.Kv.ModRevision, now}
			}
		}
	}()
	out := &LatencyResult{Puts: puts}
	for r := 0; r < runs; r++ {
		latencies := make([]float64, 0, puts)
		for i := 0; i < warmup+puts; i++ {
			key := fmt.Sprintf("%s%08d", prefix, i)
			t0 := time.Now()
			pctx, pcancel := context.WithTimeout(ctx, opTimeout)
			resp, err := writer.Put(pctx, key, value)
			pcancel()
			if err != nil {
				return nil, err
			}
			for {
				var a arrival
				var ok bool
				select {
				case a, ok = <-arrivals:
				case <-time.After(opTimeout):
					return nil, fmt.Errorf("no event for revision %d within %s", resp.Header.Revision, opTimeout)
				}
				if !ok {
					return nil, errors.New("the watch ended")
				}
				if a.revision >= resp.Header.Revision {
					if i >= warmup {
						latencies = append(latencies, float64(a.at.Sub(t0).Nanoseconds())/1e3)
					}
					break
				}
			}
		}
		out.P50Millis = append(out.P50Millis, percentile(latencies, 0.50)/1e3)
		out.P99Millis = append(out.P99Millis, percentile(latencies, 0.99)/1e3)
		out.MaxMillis = append(out.MaxMillis, percentile(latencies, 1)/1e3)
		if raw {
			out.Micros = append(out.Micros, latencies...)
		}
	}
	return out, nil
}

func main() {
	var replays replayTargets
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "etcd's client endpoint HOST:PORT (readdir, latency)")
	scenario := flag.String("scenario", "all", "all|replay|readdir|latency")
	runs := flag.Int("runs", 5, "timed runs per scenario (after one warm-up)")
	warmup := flag.Int("warmup", 1, "untimed runs first")
	flag.Var(&replays, "replay", "LABEL,HOST:PORT,EVENTS: a bench/replay_server.py and the events it replays (repeatable)")
	replayPrefix := flag.String("replay-prefix", "/apisix/routes/", "the prefix watched on the replay servers")
	readdirPrefix := flag.String("readdir-prefix", "/apisix/routes/", "the prefix read by readdir (loaded beforehand)")
	readdirKeys := flag.Int("readdir-keys", 0, "keys expected under --readdir-prefix (0: do not check)")
	pageSize := flag.Int64("page-size", 20_000, "first page of the readdir-pages variant (etcdstream's DEFAULT_PAGE_SIZE)")
	latencyPrefix := flag.String("latency-prefix", "/latency-go/", "the prefix the latency scenario writes")
	latencyPuts := flag.Int("latency-puts", 1000, "timed puts per latency run")
	latencyWarmup := flag.Int("latency-warmup", 50, "untimed puts before each latency run")
	raw := flag.Bool("raw", false, "also print every latency (µs)")
	flag.Parse()

	want := func(name string) bool { return *scenario == "all" || *scenario == name }
	switch *scenario {
	case "all", "replay", "readdir", "latency":
	default:
		fail(fmt.Errorf("--scenario %q: want all, replay, readdir or latency", *scenario))
	}
	out := Output{Client: clientVersion(), Go: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), Runs: *runs}
	if want("replay") {
		if len(replays) == 0 && *scenario == "replay" {
			fail(errors.New("--scenario replay needs --replay LABEL,HOST:PORT,EVENTS"))
		}
		out.Replay = map[string]*ReplayResult{}
		for _, target := range replays {
			res, err := runReplay(target, *replayPrefix, *warmup, *runs)
			if err != nil {
				fail(err)
			}
			out.Replay[target.Label] = res
		}
	}
	if want("readdir") {
		out.Readdir = map[string]*ReaddirResult{}
		variants := []struct {
			name string
			read func(*clientv3.Client, string) (int, int, error)
		}{
			{"get-prefix", getPrefix},
			{"readdir-pages", func(c *clientv3.Client, p string) (int, int, error) { return readdirPages(c, p, *pageSize) }},
		}
		for _, v := range variants {
			res, err := runReaddir(*endpoint, *readdirPrefix, *readdirKeys, *warmup, *runs, v.read)
			if err != nil {
				fail(fmt.Errorf("readdir %s: %w", v.name, err))
			}
			out.Readdir[v.name] = res
		}
	}
	if want("latency") {
		res, err := runLatency(*endpoint, *latencyPrefix, *latencyPuts, *latencyWarmup, *runs, *raw)
		if err != nil {
			fail(fmt.Errorf("latency: %w", err))
		}
		out.Latency = res
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "etcdbench-go:", err)
	os.Exit(1)
}

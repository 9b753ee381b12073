using System;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Benchmarks;

/// <summary>
/// A clock that moves only when told and takes no lock (FakeTimeProvider locks, which would distort a hot path); its
/// timers fire only when <see cref="FireTimers"/> is called.
/// </summary>
public sealed class ManualTimeProvider(DateTimeOffset now) : TimeProvider
{
    private readonly System.Collections.Generic.List<ManualTimer> _timers = new();

    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(callback, state);
        lock (_timers)
        {
            _timers.Add(timer);
        }

        return timer;
    }

    public void FireTimers()
    {
        ManualTimer[] timers;
        lock (_timers)
        {
            timers = _timers.ToArray();
        }

        foreach (ManualTimer timer in timers)
        {
            timer.Fire();
        }
    }

    private sealed class ManualTimer(TimerCallback callback, object? state) : ITimer
    {
        private bool _disposed;

        public void Fire()
        {
            if (!_disposed)
            {
                callback(state);
            }
        }

        public bool Change(TimeSpan dueTime, TimeSpan period) => !_disposed;

        public void Dispose() => _disposed = true;

        public ValueTask DisposeAsync()
        {
            _disposed = true;
            return default;
        }
    }
}

/// <summary>The end of the pipeline: answers every request at once with one cached 200.</summary>
public sealed class CachedOkHandler : HttpMessageHandler
{
    private readonly Task<HttpResponseMessage> _ok = Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => _ok;
}

/// <summary>The physical limit for "attach a header": one constant header value, set on every request.</summary>
public sealed class ConstantHeaderHandler : DelegatingHandler
{
    private readonly System.Net.Http.Headers.AuthenticationHeaderValue _header = new("Bearer", "constant-token");

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Authorization = _header;
        return base.SendAsync(request, cancellationToken);
    }
}

/// <summary>A token client that issues numbered tokens, optionally after a delay or a gate, and counts requests.</summary>
public sealed class BenchTokenClient(TimeProvider time, TimeSpan lifetime, TimeSpan delay = default) : ITokenClient
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public TaskCompletionSource? Gate { get; set; }

    public async Task<M3terToken> RequestTokenAsync(CancellationToken cancellationToken = default)
    {
        int call = Interlocked.Increment(ref _calls);
        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }

        if (Gate is TaskCompletionSource gate)
        {
            await gate.Task.ConfigureAwait(false);
        }

        DateTimeOffset now = time.GetUtcNow();
        return new M3terToken("bench-token-" + call, "Bearer", now + lifetime, now);
    }
}

public static class BenchOptions
{
    public static M3terAuthOptions Create() => new() { AccessKeyId = "bench-key", ApiSecret = "bench-secret" };
}

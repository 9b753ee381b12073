using System;
using System.Linq;
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

/// <summary>
/// A real redis-server on a free loopback port for the length of one benchmark (no persistence), or none when
/// redis-server is not installed.
/// </summary>
public sealed class BenchRedisServer : IDisposable
{
    private readonly System.Diagnostics.Process _process;

    private BenchRedisServer(System.Diagnostics.Process process, int port)
    {
        _process = process;
        Configuration = $"127.0.0.1:{port}";
    }

    /// <summary>Gets the StackExchange.Redis configuration string for this server.</summary>
    public string Configuration { get; }

    /// <summary>Starts one and waits until it accepts connections; null when redis-server is not on the PATH.</summary>
    public static BenchRedisServer? TryStart()
    {
        string? executable = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(System.IO.Path.PathSeparator)
            .Select(dir => System.IO.Path.Combine(dir, "redis-server"))
            .FirstOrDefault(System.IO.File.Exists);
        if (executable is null)
        {
            return null;
        }

        // A free port can be taken between finding it and redis-server binding it: then redis-server exits, and the
        // next attempt uses another port.
        for (int attempt = 1; ; attempt++)
        {
            int port;
            using (var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
            {
                listener.Start();
                port = ((IPEndPoint)listener.LocalEndpoint).Port;
            }

            var start = new System.Diagnostics.ProcessStartInfo(executable) { UseShellExecute = false, RedirectStandardOutput = true };
            foreach (string arg in new[] { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
            {
                start.ArgumentList.Add(arg);
            }

            var process = System.Diagnostics.Process.Start(start)!;
            process.OutputDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            var server = new BenchRedisServer(process, port);
            DateTime deadline = DateTime.UtcNow.AddSeconds(10);
            while (DateTime.UtcNow < deadline && !process.HasExited)
            {
                try
                {
                    using var client = new System.Net.Sockets.TcpClient();
                    client.Connect(IPAddress.Loopback, port);
                    return server;
                }
                catch (System.Net.Sockets.SocketException)
                {
                    Thread.Sleep(20);
                }
            }

            server.Dispose();
            if (attempt == 3)
            {
                throw new InvalidOperationException($"redis-server did not start on a free loopback port in {attempt} attempts");
            }
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}

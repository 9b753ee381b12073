using System;
using System.Threading;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis;

// The connection: opened on first use (or while the host starts), waited for once by every call meanwhile, closed on disposal.
public sealed partial class M3terRedisTokenCache
{
    /// <summary>
    /// Opens the connection and sends one read (of a key no registration uses), so the first real call finds both
    /// ready; bounded like any first call, by <see cref="M3terRedisTokenCacheOptions.ConnectTimeout"/>. Never throws:
    /// a failure opens the breaker, as any failed call does.
    /// </summary>
    internal async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ReadAsync(WarmUpScope.Value, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host gave up starting: nothing to warm.
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile.
        }
    }

    /// <summary>
    /// Marks the cache disposed (once: null the second time) and returns the connection it opened, if any, for the
    /// caller to close. One still opening is closed when it opens.
    /// </summary>
    private Task<IConnectionMultiplexer>? TakeOwnConnection()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return null;
        }

        Task<IConnectionMultiplexer>? connection;
        lock (_gate)
        {
            connection = _ownsConnection ? _connection : null; // after this, Connection() opens nothing new
        }

        if (connection is { IsCompleted: false })
        {
            _ = connection.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return connection;
    }

    /// <summary>
    /// Every call that finds the connection opening waits for it, all on one wait that ends ConnectTimeout after the
    /// first such call began (so the first token is never later than that): a process whose first moments ask for
    /// several scopes at once (several tenants, say) coordinates each of them, instead of sending all but one ahead as
    /// misses. If the connection is not open by then, Redis counts as unavailable (the breaker opens), and calls fail at
    /// once while it is still opening.
    /// </summary>
    private Task WaitForConnectionAsync(Task<IConnectionMultiplexer> connecting, CancellationToken cancellationToken)
    {
        Task wait;
        lock (_gate)
        {
            // Not the caller's token: the wait is shared, and one caller giving up must not end it for the others.
            if (_connectWait is null || !ReferenceEquals(_connectWaitFor, connecting))
            {
                _connectWaitFor = connecting; // a new attempt (the last one failed) gets a wait of its own
                _connectWait = connecting.WaitAsync(_options.ConnectTimeout, _timeProvider, CancellationToken.None);
            }

            wait = _connectWait;
        }

        // A TimeoutException means unavailable: the breaker opens; the connection keeps opening in the background.
        return wait.WaitAsync(Timeout.InfiniteTimeSpan, _timeProvider, cancellationToken);
    }

    private Task<IConnectionMultiplexer> Connection()
    {
        lock (_gate)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                throw new ObjectDisposedException(nameof(M3terRedisTokenCache)); // never open a connection nobody will close
            }

            if (_connection is { IsFaulted: false, IsCanceled: false } connection)
            {
                return connection;
            }

            // First use, or the last attempt failed (the breaker has let us try again): connect now, in the background.
            _connectWait = null;
            _connectWaitFor = null;
            _ownsConnection = _options.ConnectionMultiplexerFactory is null;
            _connection = _options.ConnectionMultiplexerFactory is { } factory ? factory() : ConnectAsync(_options.Configuration!);
            _connection.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return _connection;
        }
    }

    private static async Task<IConnectionMultiplexer> ConnectAsync(string configuration)
    {
        ConfigurationOptions options = ConfigurationOptions.Parse(configuration);

        // Never block on a missing Redis: connect in the background, fail commands at once while disconnected (the
        // default backlog would queue them), and keep trying to reconnect every second.
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ReconnectRetryPolicy = new LinearRetry(1000);
        return await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
    }
}

using System;
using System.Threading;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis.Internal;

/// <summary>
/// The Redis token cache's connection: opened in the background on first use (again after a failed attempt), waited
/// for once by every call that finds it opening, and closed with the cache when the cache opened it (not one from
/// <see cref="M3terRedisTokenCacheOptions.ConnectionMultiplexerFactory"/>).
/// </summary>
/// <param name="options">The cache's options.</param>
/// <param name="timeProvider">The cache's clock.</param>
/// <param name="disposed">Whether the cache is disposed; read under this type's lock, so that once <see cref="Close"/> has
/// begun (the cache marks itself disposed first) no connection is opened.</param>
internal sealed class RedisConnection(M3terRedisTokenCacheOptions options, TimeProvider timeProvider, Func<bool> disposed)
{
    private readonly object _gate = new();
    private Task<IConnectionMultiplexer>? _connection;
    private bool _owned;
    private Task? _wait; // under _gate: the bounded wait for the opening connection, shared by every call meanwhile
    private Task? _waitFor; // under _gate: the connection attempt _wait waits for

    /// <summary>The connection, open or opening; a new attempt when the last one failed.</summary>
    /// <exception cref="ObjectDisposedException">The connection was closed: nothing opens one nobody will close.</exception>
    public Task<IConnectionMultiplexer> Get()
    {
        lock (_gate)
        {
            if (disposed())
            {
                throw new ObjectDisposedException(nameof(M3terRedisTokenCache));
            }

            if (_connection is { IsFaulted: false, IsCanceled: false } connection)
            {
                return connection;
            }

            // First use, or the last attempt failed (the breaker has let us try again): connect now, in the background.
            _wait = null;
            _waitFor = null;
            _owned = options.ConnectionMultiplexerFactory is null;
            _connection = options.ConnectionMultiplexerFactory is { } factory ? factory() : ConnectAsync(options.Configuration!);
            _connection.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return _connection;
        }
    }

    /// <summary>
    /// Every call that finds the connection opening waits for it, all on one wait that ends ConnectTimeout after the
    /// first such call began (so the first token is never later than that): a process whose first moments ask for
    /// several scopes at once (several tenants, say) coordinates each of them, instead of sending all but one ahead as
    /// misses. A <see cref="TimeoutException"/> means Redis is unavailable; the connection keeps opening in the background.
    /// </summary>
    public Task WaitAsync(Task<IConnectionMultiplexer> connecting, CancellationToken cancellationToken)
    {
        Task wait;
        lock (_gate)
        {
            // Not the caller's token: the wait is shared, and one caller giving up must not end it for the others.
            if (_wait is null || !ReferenceEquals(_waitFor, connecting))
            {
                _waitFor = connecting; // a new attempt (the last one failed) gets a wait of its own
                _wait = connecting.WaitAsync(options.ConnectTimeout, timeProvider, CancellationToken.None);
            }

            wait = _wait;
        }

        return wait.WaitAsync(Timeout.InfiniteTimeSpan, timeProvider, cancellationToken);
    }

    /// <summary>
    /// For the cache being disposed (after it marked itself so: nothing opens after that). Returns the connection this
    /// type opened, if any, for the caller to dispose; one still opening is disposed when it opens.
    /// </summary>
    public Task<IConnectionMultiplexer>? Close()
    {
        Task<IConnectionMultiplexer>? connection;
        lock (_gate)
        {
            connection = _owned ? _connection : null;
        }

        if (connection is { IsCompleted: false })
        {
            _ = connection.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return connection;
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

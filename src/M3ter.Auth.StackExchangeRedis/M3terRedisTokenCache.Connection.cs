using System;
using System.Threading;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis;

// Warming the connection while the host starts, and closing it on disposal (the connection itself: Internal/RedisConnection).
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
    private Task<IConnectionMultiplexer>? TakeOwnConnection() =>
        Interlocked.Exchange(ref _disposed, 1) != 0 ? null : _connection.Close();
}

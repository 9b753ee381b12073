using System;

namespace M3ter.Auth.Testing.Internal;

/// <summary>Counts requests per whole second, as m3ter's per-organization limit of requests a second does.</summary>
internal sealed class RateLimiter
{
    private readonly object _gate = new();
    private long _second = long.MinValue;
    private int _count;

    /// <summary>Whether one more request fits in the current second; if not, how long until the next one starts.</summary>
    public bool TryAcquire(DateTimeOffset now, int limit, out TimeSpan retryAfter)
    {
        long second = now.ToUnixTimeSeconds();
        lock (_gate)
        {
            if (second != _second)
            {
                _second = second;
                _count = 0;
            }

            if (_count < limit)
            {
                _count++;
                retryAfter = TimeSpan.Zero;
                return true;
            }
        }

        retryAfter = DateTimeOffset.FromUnixTimeSeconds(second + 1) - now;
        return false;
    }

    public void Reset()
    {
        lock (_gate)
        {
            _second = long.MinValue;
            _count = 0;
        }
    }
}

using System;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>
/// A test that needs redis-server. Under <c>CI=true</c> a missing server fails the test (the run must not pass
/// without it); elsewhere the test is skipped with a message that says how to install it.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        if (RedisServer.Executable is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = RedisServer.Missing;
        }
    }
}

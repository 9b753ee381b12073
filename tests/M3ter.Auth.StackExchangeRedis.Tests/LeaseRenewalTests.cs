using System;
using System.Threading.Tasks;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>The lease a process may hold: how long it counts as held, and renewals that answer late (found by review).</summary>
public sealed class LeaseRenewalTests
{
    [RedisFact]
    public async Task FailedRelease_TheLeaseStopsCountingAsHeldOnceItsDurationPasses_LaterWritesRespectTheOpenBreaker()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var cache = new M3terRedisTokenCache(new M3terRedisTokenCacheOptions { Configuration = redis.Configuration }, time);
        var scope = new SharedTokenScope(RedisTokenCacheTests.Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret);
        Assert.Null(await cache.ReadAsync(scope)); // connected, answered once
        Assert.True(await cache.TryAcquireLeaseAsync(scope));

        await redis.KillAsync();
        await cache.ReleaseLeaseAsync(scope); // Redis gone: the release fails and the breaker opens
        Assert.NotNull(cache.Unavailable);

        // An hour later the 5-second lease is long gone (and its renewal was stopped by the release). Redis is still
        // down: the probe fails and the breaker is open again.
        time.Advance(TimeSpan.FromHours(1));
        Assert.Null(await cache.ReadAsync(scope));
        string open = cache.Unavailable!;
        Assert.Contains("(read:", open, StringComparison.Ordinal);

        // A write with no lease held: with the breaker open it must be a no-op that never goes to Redis.
        DateTimeOffset now = time.GetUtcNow();
        await cache.WriteIfNewerAsync(scope, new M3terToken("tok", "Bearer", now + TimeSpan.FromHours(1), now));

        Assert.DoesNotContain("(write:", cache.Unavailable, StringComparison.Ordinal);
    }
}

/// <summary>Helpers: whether Redis holds a lease key, and a fake clock kept in step with the real one.</summary>
internal static class LeaseProbe
{
    internal static async Task<bool> HasLeaseAsync(RedisServer redis)
    {
        await using StackExchange.Redis.ConnectionMultiplexer mux = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        foreach (StackExchange.Redis.RedisKey key in mux.GetServer(mux.GetEndPoints()[0]).Keys(pattern: "*"))
        {
            if (((string)key!).EndsWith(":lease", StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static async Task RunFor(FakeTimeProvider time, TimeSpan real)
    {
        for (var sw = System.Diagnostics.Stopwatch.StartNew(); sw.Elapsed < real; await Task.Delay(50))
        {
            time.Advance(TimeSpan.FromMilliseconds(50)); // the fake clock keeps pace with the real one
        }
    }
}

/// <summary>A multiplexer whose database is <see cref="StallingDatabase"/>.</summary>
public class StallingMultiplexer : System.Reflection.DispatchProxy
{
    public StackExchange.Redis.IConnectionMultiplexer Target { get; set; } = null!;
    public StallingDatabase Db { get; set; } = null!;

    protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args)
    {
        if (targetMethod!.Name == nameof(StackExchange.Redis.IConnectionMultiplexer.GetDatabase))
        {
            Db.Target = Target.GetDatabase();
            return Db.Self;
        }

        try
        {
            return targetMethod.Invoke(Target, args);
        }
        catch (System.Reflection.TargetInvocationException ex)
        {
            throw ex.InnerException!;
        }
    }
}

/// <summary>A database that holds one lease renewal before it is sent and again before its answer is returned.</summary>
public class StallingDatabase : System.Reflection.DispatchProxy
{
    public StackExchange.Redis.IDatabase Target { get; set; } = null!;
    public StackExchange.Redis.IDatabase Self { get; set; } = null!;
    public TaskCompletionSource? BeforeSend { get; set; }
    public TaskCompletionSource? BeforeAnswer { get; set; }
    public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args)
    {
        if (targetMethod!.Name == "ScriptEvaluateAsync" && args!.Length == 4 && args[0] is string script && script.Contains("PEXPIRE', KEYS[1], ARGV[2]) end", StringComparison.Ordinal) && BeforeSend is { } before)
        {
            BeforeSend = null;
            return Delayed(before, BeforeAnswer!, script, (StackExchange.Redis.RedisKey[])args[1]!, (StackExchange.Redis.RedisValue[])args[2]!);
        }

        try
        {
            return targetMethod.Invoke(Target, args);
        }
        catch (System.Reflection.TargetInvocationException ex)
        {
            throw ex.InnerException!;
        }
    }

    private async Task<StackExchange.Redis.RedisResult> Delayed(TaskCompletionSource before, TaskCompletionSource answer, string script, StackExchange.Redis.RedisKey[] keys, StackExchange.Redis.RedisValue[] values)
    {
        Held.TrySetResult();
        await before.Task;
        StackExchange.Redis.RedisResult result = await Target.ScriptEvaluateAsync(script, keys, values);
        await answer.Task;
        return result;
    }
}

/// <summary>A renewal whose answer comes after the lease was released and taken again must not stop the new lease's renewal.</summary>
public sealed class LeaseRenewalRaceTests
{
    [RedisFact]
    public Task NoLateRenewal_TheNextLeaseIsKeptAlive() => Run(stale: false);

    [RedisFact]
    public Task LateRenewalAnswerAboutAReleasedLease_DoesNotStopTheNextLeasesRenewal() => Run(stale: true);

    private static async Task Run(bool stale)
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        StackExchange.Redis.ConnectionMultiplexer real = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var mux = System.Reflection.DispatchProxy.Create<StackExchange.Redis.IConnectionMultiplexer, StallingMultiplexer>();
        var muxProxy = (StallingMultiplexer)(object)mux;
        var db = System.Reflection.DispatchProxy.Create<StackExchange.Redis.IDatabase, StallingDatabase>();
        var dbProxy = (StallingDatabase)(object)db;
        dbProxy.Self = db;
        muxProxy.Target = real;
        muxProxy.Db = dbProxy;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var cache = new M3terRedisTokenCache(new M3terRedisTokenCacheOptions { ConnectionMultiplexerFactory = () => Task.FromResult(mux), LeaseDuration = TimeSpan.FromSeconds(1) }, time);
        var scope = new SharedTokenScope(RedisTokenCacheTests.Base, RedisTokenCacheTests.KeyId, RedisTokenCacheTests.Secret);
        Assert.Null(await cache.ReadAsync(scope));
        Assert.True(await cache.TryAcquireLeaseAsync(scope));

        // A renewal tick starts just as the holder releases; Redis runs it after the release (answer 0), and the answer
        // is processed after the same process has taken the lease again.
        var beforeSend = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var beforeAnswer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        dbProxy.BeforeAnswer = beforeAnswer;
        if (stale)
        {
            dbProxy.BeforeSend = beforeSend;
            time.Advance(TimeSpan.FromMilliseconds(334));
            await dbProxy.Held.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        await cache.ReleaseLeaseAsync(scope);
        beforeSend.SetResult();
        await Task.Delay(200); // the renewal runs in Redis now: the lease is free, so it answers 0
        Assert.True(await cache.TryAcquireLeaseAsync(scope)); // the next lease, renewed by a new timer
        beforeAnswer.SetResult();
        await Task.Delay(200);

        for (var sw = System.Diagnostics.Stopwatch.StartNew(); sw.Elapsed < TimeSpan.FromSeconds(2.5); await Task.Delay(50))
        {
            time.Advance(TimeSpan.FromMilliseconds(50));
        }

        Assert.True(await LeaseProbe.HasLeaseAsync(redis), "the lease taken again, never released, expired: its renewal was stopped by the stale answer");
    }
}

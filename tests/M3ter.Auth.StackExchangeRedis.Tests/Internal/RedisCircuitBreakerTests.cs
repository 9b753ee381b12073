using System;
using M3ter.Auth.StackExchangeRedis.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis.Tests.Internal;

/// <summary>The breaker on its own, on a fake clock; with a real redis-server in <c>RedisTokenCacheTests</c>.</summary>
public sealed class RedisCircuitBreakerTests
{
    private static readonly TimeSpan Break = TimeSpan.FromSeconds(15);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
    private readonly RedisCircuitBreaker _breaker;

    public RedisCircuitBreakerTests() => _breaker = new RedisCircuitBreaker(Break, _time, NullLogger.Instance);

    [Fact]
    public void Closed_LetsEveryCallThrough_AndSaysNothingIsWrong()
    {
        Assert.True(_breaker.MayCall(out bool probe, out _));
        Assert.False(probe);
        Assert.Null(_breaker.Unavailable);
    }

    [Fact]
    public void TheFirstFailure_OpensIt_ForTheBreakDuration()
    {
        _breaker.Trip("read", new TimeoutException());

        Assert.False(_breaker.MayCall(out _, out _));
        Assert.Contains("read: no answer within the operation timeout", _breaker.Unavailable, StringComparison.Ordinal);
        _time.Advance(Break - TimeSpan.FromMilliseconds(1));
        Assert.False(_breaker.MayCall(out _, out _));
    }

    [Fact]
    public void AfterTheBreak_OneCallProbes_WhileTheOthersStillMiss()
    {
        _breaker.Trip("read", new TimeoutException());
        _time.Advance(Break);

        Assert.True(_breaker.MayCall(out bool first, out _));
        Assert.True(first);
        Assert.False(_breaker.MayCall(out _, out _));

        _breaker.EndProbe(); // the probe failed or was cancelled without closing it: another may probe
        Assert.True(_breaker.MayCall(out bool second, out _));
        Assert.True(second);
    }

    [Fact]
    public void ASuccessfulCall_ClosesIt()
    {
        _breaker.Trip("lease", new RedisConnectionException(ConnectionFailureType.UnableToConnect, CommandFlags.None, "no", innerException: null, CommandStatus.Unknown));
        _time.Advance(Break);
        Assert.True(_breaker.MayCall(out _, out long trips));

        _breaker.Close(trips);

        Assert.True(_breaker.MayCall(out bool probe, out _));
        Assert.False(probe);
        Assert.Null(_breaker.Unavailable);
    }

    [Fact]
    public void ASuccessThatStartedBeforeALaterFailure_DoesNotCloseIt()
    {
        long startedUnder = _breaker.Trips; // a slow call starts while the breaker is closed
        _breaker.Trip("read", new TimeoutException()); // another call fails meanwhile

        _breaker.Close(startedUnder); // the slow call's answer arrives: older than the failure

        Assert.False(_breaker.MayCall(out _, out _));
        Assert.NotNull(_breaker.Unavailable);
    }

    [Fact]
    public void AFailureWhileOpen_StartsTheBreakAgain()
    {
        _breaker.Trip("read", new TimeoutException());
        _time.Advance(Break);
        Assert.True(_breaker.MayCall(out _, out _));

        _breaker.Trip("read", new TimeoutException()); // the probe failed
        _breaker.EndProbe();

        Assert.False(_breaker.MayCall(out _, out _));
        _time.Advance(Break);
        Assert.True(_breaker.MayCall(out bool probe, out _));
        Assert.True(probe);
    }

    [Fact]
    public void TheReason_NamesTheOperationAndTheFailure_NeverItsMessage()
    {
        _breaker.Trip("write", new RedisConnectionException(ConnectionFailureType.AuthenticationFailure, CommandFlags.None, "password=hunter2 at redis.internal:6380", innerException: null, CommandStatus.Unknown));

        string reason = _breaker.Unavailable!;
        Assert.Contains("write: connection failure (AuthenticationFailure)", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("redis.internal", reason, StringComparison.Ordinal);
    }
}

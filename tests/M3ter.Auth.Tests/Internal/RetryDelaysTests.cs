using System;
using System.Net.Http.Headers;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Tests.Internal;

public sealed class RetryDelaysTests
{
    [Theory]
    [InlineData(0, 750, 1250)]
    [InlineData(1, 1500, 2500)]
    [InlineData(2, 3000, 5000)]
    [InlineData(3, 6000, 10000)]
    public void Backoff_GrowsExponentiallyWithinJitterBounds(int retry, double minMs, double maxMs)
    {
        TimeSpan low = RetryDelays.Backoff(TimeSpan.FromSeconds(1), retry, 0);
        TimeSpan high = RetryDelays.Backoff(TimeSpan.FromSeconds(1), retry, 0.999999);

        Assert.Equal(minMs, low.TotalMilliseconds, 3);
        Assert.InRange(high.TotalMilliseconds, maxMs - 1, maxMs);
    }

    [Fact]
    public void Backoff_IsCappedAtThirtySeconds()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), RetryDelays.Backoff(TimeSpan.FromSeconds(1), 40, 0.5));
    }

    [Fact]
    public void FromRetryAfter_Seconds_IsTheDelta()
    {
        Assert.Equal(TimeSpan.FromSeconds(7), RetryDelays.FromRetryAfter(new RetryConditionHeaderValue(TimeSpan.FromSeconds(7)), DateTimeOffset.UnixEpoch));
    }

    [Fact]
    public void FromRetryAfter_HttpDate_IsTheTimeUntilThatDate()
    {
        var now = new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);
        var header = RetryConditionHeaderValue.Parse(now.AddSeconds(12).ToString("r", System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(TimeSpan.FromSeconds(12), RetryDelays.FromRetryAfter(header, now));
    }

    [Fact]
    public void FromRetryAfter_DateInThePast_IsZero_AndAbsentIsNull()
    {
        var now = new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

        Assert.Equal(TimeSpan.Zero, RetryDelays.FromRetryAfter(new RetryConditionHeaderValue(now.AddMinutes(-1)), now));
        Assert.Null(RetryDelays.FromRetryAfter(null, now));
    }
}

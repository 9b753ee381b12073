using System;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Tests.Internal;

public sealed class RefreshScheduleTests
{
    private static readonly long Now = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero).UtcTicks;
    private static readonly long Hour = TimeSpan.FromHours(1).Ticks;
    private static readonly long Minute = TimeSpan.FromMinutes(1).Ticks;

    [Fact]
    public void RefreshAt_IsRefreshBeforeExpiryEarly_WithoutJitter()
    {
        long at = RefreshSchedule.RefreshAt(Now, Now + (5 * Hour), Now, TimeSpan.FromMinutes(5), random: 0);

        Assert.Equal(Now + (5 * Hour) - (5 * Minute), at);
    }

    [Fact]
    public void RefreshAt_JitterMovesItUpToTenPercentEarlier()
    {
        long at = RefreshSchedule.RefreshAt(Now, Now + (5 * Hour), Now, TimeSpan.FromMinutes(10), random: 0.999999);

        Assert.InRange(at, Now + (5 * Hour) - (11 * Minute), Now + (5 * Hour) - (10 * Minute) - 1);
    }

    [Fact]
    public void RefreshAt_ATokenShorterThanTwiceTheWindow_IsRefreshedHalfwayThrough()
    {
        long at = RefreshSchedule.RefreshAt(Now, Now + (4 * Minute), Now, TimeSpan.FromMinutes(5), random: 0);

        Assert.Equal(Now + (2 * Minute), at);
    }

    [Fact]
    public void RefreshAt_ATokenThatArrivedLate_IsNotRefreshedBeforeHalfOfWhatIsLeft()
    {
        // Issued an hour ago with a 62-minute lifetime: the window (5 minutes) has begun already, but what is left
        // (2 minutes) is halved instead of refreshing at once.
        long at = RefreshSchedule.RefreshAt(Now - Hour, Now + (2 * Minute), Now, TimeSpan.FromMinutes(5), random: 0);

        Assert.Equal(Now + Minute, at);
    }

    [Fact]
    public void RefreshAt_AnIssuedAtNotBeforeExpiry_CountsFromNow()
    {
        long at = RefreshSchedule.RefreshAt(Now + (9 * Hour), Now + Hour, Now, TimeSpan.FromMinutes(5), random: 0);

        Assert.Equal(Now + Hour - (5 * Minute), at);
    }

    [Fact]
    public void RetryPoint_IsTheDelay_WhenThereIsRoom()
    {
        Assert.Equal(Now + Minute, RefreshSchedule.RetryPoint(Now + Hour, Now, Minute));
    }

    [Fact]
    public void RetryPoint_IsNeverLaterThanHalfOfWhatIsLeft()
    {
        Assert.Equal(Now + (5 * Minute), RefreshSchedule.RetryPoint(Now + (10 * Minute), Now, Hour));
    }

    [Fact]
    public void RetryPoint_IsNeverSoonerThanTheMinimumGap()
    {
        Assert.Equal(Now + RefreshSchedule.MinRetryGap.Ticks, RefreshSchedule.RetryPoint(Now + Hour, Now, 0));
    }

    [Fact]
    public void RetryPoint_IsNull_WithoutRoomBeforeExpiry()
    {
        Assert.Null(RefreshSchedule.RetryPoint(Now + RefreshSchedule.MinRetryGap.Ticks, Now, Minute));
    }

    [Theory]
    [InlineData(1, 1_000)]
    [InlineData(2, 2_000)]
    [InlineData(3, 4_000)]
    public void BackoffTicks_DoublesFromTheMinimum(int failures, int expectedMs)
    {
        // random 0.5 is the middle of RetryDelays' ±25% jitter
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs).Ticks, RefreshSchedule.BackoffTicks(Now, failures, 0.5, rejectedUntilTicks: null));
    }

    [Fact]
    public void BackoffTicks_WaitsForARememberedRejectionToRunOut()
    {
        Assert.Equal(10 * Minute, RefreshSchedule.BackoffTicks(Now, 1, 0.5, rejectedUntilTicks: Now + (10 * Minute)));
        Assert.Equal(TimeSpan.FromSeconds(1).Ticks, RefreshSchedule.BackoffTicks(Now, 1, 0.5, rejectedUntilTicks: Now - 1));
    }

    [Fact]
    public void RememberedUntil_Saturates()
    {
        Assert.Equal(Now + Minute, RefreshSchedule.RememberedUntil(Now, TimeSpan.FromMinutes(1)));
        Assert.Equal(DateTimeOffset.MaxValue.UtcTicks, RefreshSchedule.RememberedUntil(Now, TimeSpan.MaxValue));
    }

    [Theory]
    [InlineData(60, true)] // an hour left of a 5-hour token: well before the refresh window's middle
    [InlineData(3, true)] // 3 minutes left, window 5 minutes: more than half of it left
    [InlineData(2, false)] // 2 minutes left: past the middle, fetch whatever the store says
    public void MayDeferRefresh_WhileMoreThanHalfTheRefreshWindowIsLeft(int minutesLeft, bool expected)
    {
        long expires = Now + (minutesLeft * Minute);
        Assert.Equal(expected, RefreshSchedule.MayDeferRefresh(expires - (5 * Hour), expires, Now, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void Jittered_IsHalfToOneAndAHalfTimesTheInterval()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(50), RefreshSchedule.Jittered(TimeSpan.FromMilliseconds(100), 0));
        Assert.Equal(TimeSpan.FromMilliseconds(100), RefreshSchedule.Jittered(TimeSpan.FromMilliseconds(100), 0.5));
    }
}

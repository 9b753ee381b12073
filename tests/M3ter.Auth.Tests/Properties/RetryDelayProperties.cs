using System;
using CsCheck;
using M3ter.Auth.Internal;
using Xunit.Abstractions;

namespace M3ter.Auth.Tests.Properties;

/// <summary>The back-off between token request retries: exponential, jittered ±25%, capped at 30 s, never negative.</summary>
public sealed class RetryDelayProperties(ITestOutputHelper output)
{
    private static readonly double Cap = TimeSpan.FromSeconds(30).TotalMilliseconds;

    private static readonly Gen<(TimeSpan BaseDelay, int Retry, double Random)> Inputs =
        Gen.Select(Gen.Long[0, TimeSpan.FromSeconds(60).Ticks].Select(TimeSpan.FromTicks), Gen.Int[0, 10_000], Gen.Double.Unit);

    [Fact]
    public void Backoff_StaysWithinItsJitterBounds_AndUnderTheCap() =>
        Inputs.Run(input =>
        {
            double exponential = input.BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(input.Retry, 16));
            double delay = RetryDelays.Backoff(input.BaseDelay, input.Retry, input.Random).TotalMilliseconds;

            Assert.InRange(delay, Math.Min(exponential * 0.75, Cap) - 0.001, Math.Min(exponential * 1.25, Cap) + 0.001);
            Assert.InRange(delay, 0, Cap);
        }, output, PropertyRuns.Many);

    [Fact]
    public void Backoff_NeverShrinks_FromOneRetryToTheNext() =>
        Inputs.Run(input =>
        {
            TimeSpan now = RetryDelays.Backoff(input.BaseDelay, input.Retry, input.Random);
            TimeSpan next = RetryDelays.Backoff(input.BaseDelay, input.Retry + 1, input.Random);

            Assert.True(next >= now, $"retry {input.Retry + 1} waits {next}, less than retry {input.Retry}'s {now}");
        }, output, PropertyRuns.Many);
}

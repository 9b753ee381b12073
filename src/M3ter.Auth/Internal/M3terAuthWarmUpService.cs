using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.Internal;

/// <summary>
/// Fetches the first token of every registration with <see cref="M3terAuthOptions.WarmUpOnStart"/> while the host
/// starts (in <c>StartingAsync</c>, before servers accept requests), so the first request finds a token cached. The
/// start waits at most <see cref="M3terAuthOptions.TokenRequestTimeout"/>: an unreachable endpoint must not hold the
/// host for all the retries; the request goes on in the background and the first caller joins it.
/// </summary>
internal sealed class M3terAuthWarmUpService(IServiceProvider services, IEnumerable<RegistrationMarker> registrations, TimeProvider timeProvider, ILogger<M3terAuthWarmUpService> logger)
    : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => WarmUpAsync(cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    internal async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        var warming = new List<Task>();
        foreach (var registration in registrations)
        {
            M3terAuthRegistration provider = services.GetRequiredKeyedService<M3terAuthRegistration>(registration.Name);
            if (provider.Options.WarmUpOnStart)
            {
                warming.Add(WarmUpAsync(registration.Name, provider, cancellationToken));
            }
        }

        await Task.WhenAll(warming).ConfigureAwait(false);
    }

    private async Task WarmUpAsync(string name, M3terAuthRegistration provider, CancellationToken cancellationToken)
    {
        string display = name.Length == 0 ? "(default)" : name;
        TimeSpan bound = provider.Options.TokenRequestTimeout;
        using CancellationTokenSource timeout = CreateTimeout(bound);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            // Only this wait is bounded: giving up on it never cancels the request itself.
            M3terToken token = await provider.GetTokenAsync(either.Token).ConfigureAwait(false);
            Log.WarmedUp(logger, display, token.ExpiresAt);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            Log.WarmUpTimedOut(logger, display, bound);
        }
        catch (M3terAuthException ex)
        {
            // Starting without a token is better than not starting: the first request tries again.
            Log.WarmUpFailed(logger, display, ex.Message);
        }
    }

    private CancellationTokenSource CreateTimeout(TimeSpan delay) =>
#if NET8_0_OR_GREATER
        new(delay, timeProvider);
#else
        timeProvider.CreateCancellationTokenSource(delay);
#endif
}

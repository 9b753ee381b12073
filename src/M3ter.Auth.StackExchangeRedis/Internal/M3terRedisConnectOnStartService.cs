using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace M3ter.Auth.StackExchangeRedis.Internal;

/// <summary>
/// Connects to Redis while the host starts (in <c>StartingAsync</c>, before servers accept requests), and sends one
/// read, so a new process's first request does not pay for the connection and for compiling the client (most of a
/// new process's first 200 ms from Redis). The start waits at most
/// <see cref="M3terRedisTokenCacheOptions.ConnectTimeout"/>, as the first request would have; an unreachable Redis
/// opens the circuit breaker as any failed call does, and never stops the host.
/// </summary>
internal sealed class M3terRedisConnectOnStartService(IServiceProvider services) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) =>
        services.GetService<ISharedTokenCache>() is M3terRedisTokenCache cache ? cache.WarmUpAsync(cancellationToken) : Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

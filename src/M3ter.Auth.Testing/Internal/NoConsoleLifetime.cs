using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;

namespace M3ter.Auth.Testing.Internal;

/// <summary>
/// The emulator's host lifetime: none. The default console lifetime would take over the process's SIGTERM and Ctrl+C
/// (a process running an emulator would no longer stop on them); the emulator is stopped by disposing it.
/// </summary>
internal sealed class NoConsoleLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

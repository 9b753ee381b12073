using System;
using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Http;

namespace M3ter.Auth.Testing;

// Fault injection: what an enqueued or persistent fault does to a request.
public sealed partial class M3terEmulator
{
    /// <summary>Applies a fault; true when it answered (or dropped) the request, false when the normal answer follows (a delay).</summary>
    private async Task<bool> ApplyFaultAsync(HttpContext context, M3terRecordedRequest record, M3terFault fault, CancellationToken aborted)
    {
        switch (fault.Kind)
        {
            case M3terFaultKind.Delay:
                try
                {
                    // On the emulator's clock, so a FakeTimeProvider moves it; cut short when the client or the emulator stops.
                    await Task.Delay(fault.Delay, _options.TimeProvider, aborted).ConfigureAwait(false);
                    return false;
                }
                catch (OperationCanceledException)
                {
                    record.Answered(0); // before the client can see the connection drop (see WriteAsync)
                    context.Abort();
                    return true;
                }

            case M3terFaultKind.Reset:
                record.Answered(0);
                context.Abort();
                return true;
            case M3terFaultKind.ResetMidResponse:
                record.Answered(0);
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = 200;
                await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(fault.Body!), aborted).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(aborted).ConfigureAwait(false);
                context.Abort();
                return true;
            default:
                if (fault.RetryAfter is not null)
                {
                    context.Response.Headers.RetryAfter = fault.RetryAfter;
                }

                await WriteAsync(context, record, (int)fault.StatusCode, fault.Body is null ? null : Encoding.UTF8.GetBytes(fault.Body), fault.ContentType).ConfigureAwait(false);
                return true;
        }
    }

    private M3terFault? NextTokenFault(string? accessKeyId)
    {
        if (accessKeyId is not null && _keyTokenFaults.TryGetValue(accessKeyId, out ConcurrentQueue<M3terFault>? own) && own.TryDequeue(out M3terFault? aimed))
        {
            return aimed;
        }

        if (_tokenFaults.TryDequeue(out M3terFault? queued))
        {
            return queued;
        }

        if (PersistentTokenFault is M3terFault persistent)
        {
            return persistent;
        }

        double rate = TransientTokenFailureRate;
        bool fail;
        lock (_randomGate)
        {
            fail = rate > 0 && _random.NextDouble() < rate;
        }

        return fail ? M3terFault.Status(HttpStatusCode.ServiceUnavailable, "{\"message\":\"Service Unavailable\"}") : null;
    }
}

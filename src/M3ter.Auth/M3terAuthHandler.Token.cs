using System;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth;

// The token and the body a send needs: waited for, mapped to M3terAuthException, buffered when it cannot be sent twice.
public sealed partial class M3terAuthHandler
{
    /// <summary>Content that serializes the same bytes every time it is sent; anything else is buffered first.</summary>
    private static bool IsReplayable(HttpContent? content) =>
        content is null or ByteArrayContent
#if NET5_0_OR_GREATER
            or ReadOnlyMemoryContent
#endif
        ;

    private static Task LoadIntoBuffer(HttpContent content, CancellationToken cancellationToken)
    {
#if NET9_0_OR_GREATER
        return content.LoadIntoBufferAsync(cancellationToken);
#else
        _ = cancellationToken;
        return content.LoadIntoBufferAsync();
#endif
    }

    private static bool IsCompletedSuccessfully(Task task) =>
#if NET5_0_OR_GREATER
        task.IsCompletedSuccessfully;
#else
        task.Status == TaskStatus.RanToCompletion;
#endif

    private static Exception NoToken(Exception exception) =>
        exception as M3terAuthException ?? new M3terAuthException("No m3ter access token could be obtained, so the request was not sent: " + exception.Message, exception);

    private static async Task<M3terToken> AwaitToken(ValueTask<M3terToken> pending)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not M3terAuthException)
        {
            throw NoToken(ex);
        }
    }

    /// <summary>
    /// Asks the provider for a token. A provider of the user's own that throws instead of returning a faulted task is
    /// a failure to get a token like any other: an <see cref="M3terAuthException"/>, and nothing sent.
    /// </summary>
    private static ValueTask<M3terToken> AskForToken(ITokenProvider provider, CancellationToken cancellationToken)
    {
        try
        {
            return provider.GetTokenAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new ValueTask<M3terToken>(Task.FromException<M3terToken>(NoToken(ex)));
        }
    }
}

using System;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Internal;

internal static class TaskExtensions
{
    /// <summary>Waits for a shared task, giving up on this caller's cancellation without affecting the task itself.</summary>
    public static Task<T> WaitForAsync<T>(this Task<T> task, CancellationToken cancellationToken)
    {
#if NET6_0_OR_GREATER
        return task.WaitAsync(cancellationToken);
#else
        if (!cancellationToken.CanBeCanceled || task.IsCompleted)
        {
            return task;
        }

        return WaitSlowAsync(task, cancellationToken);

        static async Task<T> WaitSlowAsync(Task<T> task, CancellationToken cancellationToken)
        {
            var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (cancellationToken.Register(static state => ((TaskCompletionSource<bool>)state!).TrySetResult(true), cancelled))
            {
                if (await Task.WhenAny(task, cancelled.Task).ConfigureAwait(false) != task)
                {
                    throw new OperationCanceledException(cancellationToken);
                }
            }

            return await task.ConfigureAwait(false);
        }
#endif
    }

    /// <summary>Marks a task's exception as observed, so a failure nobody awaited never reaches UnobservedTaskException.</summary>
    public static void ObserveFailure(this Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>A delay on <paramref name="timeProvider"/>'s clock (so tests can move it).</summary>
    public static Task DelayAsync(this TimeProvider timeProvider, TimeSpan delay, CancellationToken cancellationToken) =>
#if NET8_0_OR_GREATER
        Task.Delay(delay, timeProvider, cancellationToken);
#else
        timeProvider.Delay(delay, cancellationToken);
#endif
}

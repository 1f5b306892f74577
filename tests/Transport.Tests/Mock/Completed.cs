namespace Transport.Tests.Mock;

/// <summary>
/// Reads tasks the test expects to have finished already. Never blocks: a task that is still
/// running fails the assertion instead of waiting, which is the point in a pumped test.
/// </summary>
internal static class Completed
{
    /// <summary>The result of a task that must already have succeeded.</summary>
    public static T Value<T>(Task<T> task)
    {
        Assert.True(task.IsCompletedSuccessfully, $"Expected a completed task, but it is {task.Status}.");
        return task.Result;
    }

    /// <summary>The cancellation of a task that must already have been cancelled.</summary>
    public static OperationCanceledException Canceled(Task task)
    {
        Assert.True(task.IsCanceled, $"Expected a cancelled task, but it is {task.Status}.");
        return Assert.ThrowsAny<OperationCanceledException>(() => task.GetAwaiter().GetResult());
    }
}

import { Space } from 'antd';
import type { ReactNode } from 'react';

/** The head of every screen: its title on the left, the actions the caller may take on the right. */
export function PageToolbar({ title, children }: { title: ReactNode; children?: ReactNode }) {
  return (
    <div className="toolbar">
      <h2>{title}</h2>
      {children && <Space wrap>{children}</Space>}
    </div>
  );
}
